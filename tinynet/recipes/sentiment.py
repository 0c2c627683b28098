"""The sequence-classification recipe: ``tinynet train sentiment`` (the seeds'
sentiment model, Embedding -> LSTM -> Linear, tinynet/models/sentiment_lstm.py).

    tinynet train sentiment                         # a generated review set
    tinynet train sentiment --data aclImdb          # aclImdb/{train,test}/{neg,pos}/*.txt

The data is a text folder, one sub-folder per class (the layout of the IMDB
review set). Texts are split into lower-case words and punctuation
(``tinynet.data.textsets.tokenize``), mapped to ids by a vocabulary built
from the training texts (rare words become ``<unk>``), and padded per batch;
the model gets each text's true length, so padding changes nothing.

With no ``--data`` the recipe writes a small generated set (reviews made of
filler words with a few positive or negative words, the label following the
majority) to a temporary folder, so it runs with no download.

Entry points: ``train(config, model="sentiment")`` returns a ``Result``
(history: loss, train and test accuracy per epoch; extras: ``vocab``,
``classes``); ``predict(model, vocab, text)``.
"""
import os
import tempfile

import numpy as np

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
import tinynet.optim as optim
from tinynet import models
from tinynet.data.textsets import TextFolder, make_sentiment_folder, pad_batch, tokenize
from tinynet.recipes.options import add_model_options, config_from
from tinynet.recipes.run import Result, Run

DEFAULTS = {
    "data": None,             # folder with train/ and test/ inside; None: generate one
    "n_per_class": 300,       # size of the generated set (per class, train)
    "max_vocab": 20_000, "min_freq": 1, "max_len": 400,
    "batch_size": 32, "lr": 5e-3, "epochs": 5, "max_steps": None, "clip": 5.0,
    "seed": 0, "quiet": False,
}


def accuracy(model, dataset, batch_size=256):
    model.eval()
    correct = 0
    with tn.no_grad():
        for ids, labels, lengths in dataset.batches(batch_size):
            pred = model(tn.tensor(ids), lengths).array.argmax(1)
            correct += int((pred == labels).sum())
    model.train()
    return correct / len(dataset)


def predict(model, vocab, text, classes=None):
    """The predicted class (name if ``classes`` is given) and its probability."""
    ids, lengths = pad_batch([vocab.encode(tokenize(text))])
    model.eval()
    with tn.no_grad():
        p = F.softmax(model(tn.tensor(ids), lengths), 1).array[0]
    model.train()
    k = int(p.argmax())
    return (classes[k] if classes else k), float(p[k])


def load_data(cfg):
    """(train, test) TextFolders; generates the review set when ``data`` is None."""
    root = cfg["data"]
    if root is None:
        root = tempfile.mkdtemp(prefix="tinynet-sentiment-")
        make_sentiment_folder(os.path.join(root, "train"), cfg["n_per_class"], seed=cfg["seed"])
        make_sentiment_folder(os.path.join(root, "test"), max(cfg["n_per_class"] // 3, 10),
                              seed=cfg["seed"] + 1)
    train_set = TextFolder(os.path.join(root, "train"), min_freq=cfg["min_freq"],
                           max_size=cfg["max_vocab"], max_len=cfg["max_len"])
    test_set = TextFolder(os.path.join(root, "test"), vocab=train_set.vocab,
                          max_len=cfg["max_len"])
    return train_set, test_set


def train(config=None, model="sentiment", run=None):
    """Train the seed ``model`` (a registered text classifier called as
    ``model(ids, lengths)``) on ``config``; returns a ``Result``."""
    entry = models.get(model)
    cfg = {**DEFAULTS, **entry.defaults, **(config or {})}
    run = run or Run(quiet=cfg["quiet"])
    tn.manual_seed(cfg["seed"])
    train_set, test_set = load_data(cfg)
    net = entry.build(cfg, vocab_size=len(train_set.vocab), num_classes=len(train_set.classes))
    opt = optim.Adam(net.parameters(), lr=cfg["lr"])
    run.log(f"{model}: {len(train_set)} training and {len(test_set)} test texts, "
            f"classes {train_set.classes}, vocabulary {len(train_set.vocab)}")
    for epoch in range(1, cfg["epochs"] + 1):
        for ids, labels, lengths in train_set.batches(cfg["batch_size"], shuffle=True,
                                                      seed=cfg["seed"] + epoch):
            if run.reached(cfg["max_steps"]):
                break
            loss = F.cross_entropy(net(tn.tensor(ids), lengths), tn.tensor(labels))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), cfg["clip"])
            opt.step()
            run.step_done(net, opt, loss)
        run.epoch = epoch
        row = {"epoch": epoch, "loss": float(np.mean(run.losses[-10:])) if run.losses else None,
               "train_acc": accuracy(net, train_set), "test_acc": accuracy(net, test_set)}
        run.append_metrics(row)
        run.log(f"epoch {epoch}: loss {row['loss']:.3f}  train accuracy "
                f"{row['train_acc']:.3f}  test accuracy {row['test_acc']:.3f}  "
                f"({run.seconds:.0f} s)")
        if run.reached(cfg["max_steps"]):
            break
    history = run.metrics()
    return Result(model=net, steps=run.step, epochs=run.epoch,
                  stopped=run.reached(cfg["max_steps"]), history=history, losses=run.losses,
                  metrics={k: history[-1][k] for k in ("train_acc", "test_acc")},
                  seconds=run.seconds, run_dir=run.path,
                  extras={"vocab": train_set.vocab, "classes": train_set.classes})


# ---------------------------------------------------------------- command line
def add_arguments(parser, entry):
    """The options of ``tinynet train NAME`` for a seed trained by this recipe."""
    from tinynet.cli import SEED, existing_dir, float_option, int_option
    d = {**DEFAULTS, **entry.defaults}
    parser.add_argument("--data", type=existing_dir,
                        help="folder with train/<class>/*.txt and test/<class>/*.txt "
                             "(default: generate a small review set)")
    for key in ("n_per_class", "max_vocab", "min_freq", "max_len", "batch_size", "epochs",
                "max_steps"):
        parser.add_argument("--" + key.replace("_", "-"), type=int_option(1), default=d[key])
    parser.add_argument("--seed", type=SEED, default=d["seed"])
    for key in ("lr", "clip"):
        parser.add_argument("--" + key.replace("_", "-"), type=float_option(0, low_open=True),
                            default=d[key])
    parser.add_argument("--quiet", action="store_true")
    add_model_options(parser, entry, DEFAULTS)


def command(args, entry):
    """``tinynet train NAME``: train, then classify two example reviews."""
    result = train(config_from(args), model=entry.name)
    if not args.quiet:
        for text in ("a wonderful and moving film, the music was superb",
                     "boring plot and awful acting, a dull tedious movie"):
            label, p = predict(result.model, result.extras["vocab"], text,
                               result.extras["classes"])
            print(f"{label} ({p:.2f}): {text}")
    return 0
