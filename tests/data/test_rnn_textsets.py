"""Text helpers for the recurrent models (tinynet.data.textsets)."""
import os

import numpy as np
import pytest

from tinynet.data.textsets import (CharStream, CharVocab, TextFolder, Vocab,
                                   make_sentiment_folder, pad_batch, stdlib_corpus, tokenize)


def test_stdlib_corpus_is_offline_python_source():
    text = stdlib_corpus(max_chars=5000)
    assert len(text) == 5000
    assert "def " in text and "import" in text
    with pytest.raises(RuntimeError, match="none of"):
        stdlib_corpus(modules=("no_such_module_xyz.py",))


def test_char_vocab_round_trip_and_errors():
    v = CharVocab("hello")
    assert v.itos == ["e", "h", "l", "o"] and len(v) == 4
    ids = v.encode("hole")
    assert ids.dtype == np.int64 and v.decode(ids) == "hole"
    with pytest.raises(ValueError, match="character 'z' is not among the 4"):
        v.encode("hz")


def test_char_stream_chunks_continue_each_stream():
    text = "".join(chr(ord("a") + k % 26) for k in range(203))
    s = CharStream(text, batch_size=4, seq_len=5)
    chunks = list(s)
    assert len(s) == len(chunks) == (202 // 4) // 5
    x0, y0 = chunks[0]
    assert x0.shape == (5, 4) and x0.dtype == np.int64
    np.testing.assert_array_equal(y0[:-1], x0[1:])          # y is x shifted by one
    x1, _ = chunks[1]
    np.testing.assert_array_equal(x1[0], y0[-1])            # chunk 1 continues chunk 0
    stream1 = s.vocab.decode(np.concatenate([c[0][:, 1] for c in chunks]))
    assert stream1 == text[50:50 + len(stream1)]            # column 1 is the 2nd quarter
    xb, _ = next(iter(CharStream(text, 4, 5, batch_first=True)))
    np.testing.assert_array_equal(xb, x0.T)
    with pytest.raises(ValueError, match="too few"):
        CharStream("abc", 2, 5)


def test_tokenize_and_vocab():
    assert tokenize("It's GREAT, isn't it?") == ["it's", "great", ",", "isn't", "it", "?"]
    v = Vocab([["b", "a", "b"], ["c", "b", "a"]], min_freq=2)
    assert v.itos == ["<pad>", "<unk>", "b", "a"]
    np.testing.assert_array_equal(v.encode(["a", "zzz", "b"]), [3, 1, 2])
    assert Vocab([["a", "b", "c"]], max_size=3).itos == ["<pad>", "<unk>", "a"]


def test_pad_batch():
    ids, lengths = pad_batch([np.array([3, 4, 5]), np.array([7]), np.array([], np.int64)])
    np.testing.assert_array_equal(ids, [[3, 4, 5], [7, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 1])
    ids, lengths = pad_batch([np.arange(1, 9)], max_len=4)
    assert ids.shape == (1, 4) and lengths[0] == 4


def test_text_folder_on_generated_reviews(tmp_path):
    root = make_sentiment_folder(str(tmp_path / "train"), n_per_class=12, seed=0)
    assert sorted(os.listdir(root)) == ["neg", "pos"]
    ds = TextFolder(root)
    assert len(ds) == 24 and ds.classes == ["neg", "pos"]
    ids, label = ds[0]
    assert label == 0 and ids.dtype == np.int64
    assert (ids != ds.vocab.unk_index).all()
    batches = list(ds.batches(10, shuffle=True, seed=3))
    assert [b[0].shape[0] for b in batches] == [10, 10, 4]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == sorted(ds.labels)
    for ids, labels, lengths in batches:
        for row, n in zip(ids, lengths):
            assert (row[n:] == 0).all() and (row[:n] != 0).all()
    # the label is a function of the words: more positive than negative words
    pos = {"good", "great", "wonderful", "superb", "enjoyable", "brilliant", "moving",
           "delightful", "excellent", "charming"}
    for k in range(len(ds)):
        words = ds.vocab.decode(ds[k][0])
        n_pos = sum(w in pos for w in words)
        assert (n_pos > len([w for w in words if w in {"bad", "awful", "boring", "dull",
                "terrible", "weak", "tedious", "clumsy", "poor", "dreadful"}])) == (ds[k][1] == 1)
    test = TextFolder(str(make_sentiment_folder(str(tmp_path / "test"), 3, seed=1)),
                      vocab=ds.vocab)
    assert test.vocab is ds.vocab


def test_text_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        TextFolder(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="no class sub-folders"):
        TextFolder(str(tmp_path))
