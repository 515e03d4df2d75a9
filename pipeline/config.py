"""Run configuration as small typed dataclasses (nanoGPT's GPTConfig pattern); TOML and CLI only fill them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from prognos.edge_runtime.configfile import fill, load_toml


@dataclass
class DataConfig:
    data_dir: str | None = None  # None: simulate the embedded default fleet into the run folder
    subset: str | None = None  # None: the one train_<subset>.txt found in data_dir
    window: int = 30  # cycles per window: the usual FD001 protocol (Li et al. 2018)
    min_cycles: int | None = None  # train on windows ending from this cycle on, edge-padded (None: window)
    rul_cap: float = 125.0  # piecewise-linear target cap, the usual FD001 protocol
    val_fraction: float = 0.2  # share of training *units* held out for validation
    smoothing: float = 0.0  # EMA α over each unit's history (0 = off); applied identically on the device
    min_abs_corr: float = 0.2  # keep a column if |corr(column, RUL)| on training units reaches this
    age_feature: bool = False  # also feed the cycle number (engine age): the device must count cycles from new
    regimes: str = "auto"  # auto: k-means regimes on the settings when they form clusters (pipeline.data.regimes); none
    regime_onehot: bool = False  # with several regimes, also feed the regime as a one-hot vector
    schema: str | None = None  # dataset spec (TOML) of a CSV/Parquet fleet in data_dir; None: C-MAPSS text files
    seed: int = 0
    sim_units: int = 100  # simulated fleet size when data_dir is None (FD001 has 100)


@dataclass
class ModelConfig:
    name: str = "lstm"
    hparams: dict = field(default_factory=dict)


@dataclass
class TrainConfig:
    epochs: int = 40  # upper bound; early stopping on validation loss usually ends sooner
    batch_size: int = 256  # per replica: the global batch is batch_size x replicas (pipeline.distribute)
    optimizer: str = "adam"  # adam | sgd | momentum
    learning_rate: float = 2e-3  # for one replica; scaled with replicas by lr_scaling
    time_warp: list = field(default_factory=list)  # stretch factors: each adds a copy of every training unit
    #   worn at 1/factor the rate (pipeline.dataset.time_warped; augmentation, never on validation)
    engine_mix: int = 0  # copies of every training unit with part of a random partner's wear (dataset.engine_mixed)
    input_noise: float = 0.0  # std of Gaussian noise on normalized training windows (augmentation; 0 = off)
    lr_schedule: str = "constant"  # constant | cosine (decays to 0 over `epochs`; the same curve in CV and final)
    patience: int = 6  # epochs without validation improvement before stopping; 0: none, train exactly `epochs`
    seed: int = 0
    strategy: str = "auto"  # auto | default | mirrored | multiworker (auto: TF_CONFIG cluster, >1 GPU, else one device)
    precision: str = "auto"  # auto | float32 | mixed_float16 | mixed_bfloat16 (auto: mixed_float16 on GPU)
    jit_compile: bool = False  # XLA; off by default: compile time dominates the small default models
    lr_scaling: str = "linear"  # linear | sqrt | none: learning rate x replicas (Goyal et al. 2017) or its sqrt


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        return fill(cls, d, "run")

    @classmethod
    def load(cls, path) -> "RunConfig":
        return cls.from_dict(load_toml(path))
