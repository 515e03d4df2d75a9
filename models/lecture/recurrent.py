"""An LSTM cell by hand (Hochreiter & Schmidhuber 1997; the lecture's gate equations).

f = σ(W_f x + U_f h + b_f)  forget gate      i = σ(W_i x + U_i h + b_i)  input gate
g = tanh(W_g x + U_g h + b_g) candidate      o = σ(W_o x + U_o h + b_o)  output gate
c' = f ⊙ c + i ⊙ g  cell update              h' = o ⊙ tanh(c')  hidden state
Weights in the Keras layout: kernel (inputs, 4 units) and recurrent_kernel (units, 4 units), gate
order i, f, g (c̃), o.
"""

from __future__ import annotations

import numpy as np

from prognos.models.lecture.backprop import sigmoid


def lstm_step(x, h, c, kernel, recurrent_kernel, bias) -> tuple[np.ndarray, np.ndarray, dict]:
    """One time step: (h', c', gates) for input x, state (h, c)."""
    a = x @ kernel + h @ recurrent_kernel + bias
    i, f, g, o = np.split(a, 4, axis=-1)
    gates = {"input": sigmoid(i), "forget": sigmoid(f), "candidate": np.tanh(g), "output": sigmoid(o)}
    c_new = gates["forget"] * c + gates["input"] * gates["candidate"]
    h_new = gates["output"] * np.tanh(c_new)
    return h_new, c_new, gates


def lstm_sequence(xs, kernel, recurrent_kernel, bias) -> np.ndarray:
    """Hidden states of every step for a sequence xs (T, inputs), starting from zero state."""
    units = recurrent_kernel.shape[0]
    h, c, out = np.zeros(units), np.zeros(units), []
    for x in xs:
        h, c, _ = lstm_step(x, h, c, kernel, recurrent_kernel, bias)
        out.append(h)
    return np.stack(out)
