"""The lecture's hand computations in numpy, each checked against Keras / TensorFlow in
tests/test_lecture.py and shown in the notebooks of docs/lecture/.

backprop: the 2-layer sigmoid MLP by hand ("Schritt 1–4"); gradients: vanishing gradients and their
fixes, measured per layer; optimizers: gradient descent, momentum and Adam as on the slides;
recurrent: the LSTM gates by hand; convolution: 2-D convolution, max pooling and its backward pass;
approximation: one hidden layer approximating a function as width grows, deep vs wide.
"""
