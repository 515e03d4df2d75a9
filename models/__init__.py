"""Model zoo: every family registers its builders on import (see `models.registry`)."""
from models.registry import create_model, list_models, register_model  # noqa: F401
from models import cnn1d, rnn  # noqa: F401,E402  (register)
from models import dense_lstm  # noqa: F401,E402  (registers the DenseLSTM layer for safe-mode loading)
