"""Classify words by language with a hand-made RNN cell, one letter at a
time, as in the "classifying names with a character-level RNN" tutorial.

Idioms: one-hot ``torch.zeros(len(line), 1, n_letters)`` filled with
``tensor[li][0][index] = 1``, ``torch.cat((input, hidden), 1)``,
``nn.LogSoftmax(dim=1)``, ``nn.NLLLoss``, ``output.topk(1)`` and
``top_i[0].item()``, ``torch.tensor([i], dtype=torch.long)``, manual update
``p.data.add_(p.grad.data, alpha=-learning_rate)``.
Randomness: the training order is a fixed NumPy permutation.
"""
import string

import numpy as np
import torch
import torch.nn as nn

all_letters = string.ascii_lowercase
n_letters = len(all_letters)
category_lines = {
    "english": ["smith", "johnson", "williams", "brown", "taylor", "walker"],
    "italian": ["rossi", "russo", "ferrari", "esposito", "bianchi", "romano"],
    "japanese": ["sato", "suzuki", "takahashi", "tanaka", "watanabe", "ito"],
}
all_categories = list(category_lines)


def letterToIndex(letter):
    return all_letters.find(letter)


def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = torch.tanh(self.i2h(combined))
        output = self.softmax(self.i2o(combined))
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def categoryFromOutput(output):
    top_n, top_i = output.topk(1)
    category_i = top_i[0].item()
    return all_categories[category_i], category_i


def build():
    return RNN(n_letters, 16, len(all_categories))


def train(rnn, epochs=2, learning_rate=0.05):
    criterion = nn.NLLLoss()
    pairs = [(c, line) for c in all_categories for line in category_lines[c]]
    order = np.random.default_rng(0).permutation(len(pairs))
    log = []
    for epoch in range(epochs):
        correct = 0
        for i in order:
            category, line = pairs[i]
            category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
            line_tensor = lineToTensor(line)
            hidden = rnn.initHidden()
            rnn.zero_grad()
            for li in range(line_tensor.size()[0]):
                output, hidden = rnn(line_tensor[li], hidden)
            loss = criterion(output, category_tensor)
            loss.backward()
            for p in rnn.parameters():
                p.data.add_(p.grad.data, alpha=-learning_rate)
            guess, guess_i = categoryFromOutput(output)
            correct += int(guess == category)
            log.append(loss.item())
        log.append(correct)
    return log


if __name__ == "__main__":
    print(train(build()))
