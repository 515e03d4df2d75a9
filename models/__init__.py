"""Model zoo: every family registers its builders on import (see `models.registry`)."""

from prognos.models.registry import create_model, deployables, list_models, register_model  # noqa: F401

# Importing a family registers it; dense_lstm registers the DenseLSTM layer for safe-mode loading.
from prognos.models import (  # noqa: F401,E402
    autoencoder,
    cnn,
    cnn1d,
    dense_lstm,
    efficientnet,
    gan,
    mlp,
    mobilenet,
    perceptron,
    resnet,
    rnn,
    vae,
    vit,
)
