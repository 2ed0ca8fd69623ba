"""Hyperparameter tuning inside one training run: Self-Tuning Networks, hypergradient learning rates.

These need torch; import them from their modules (``hpo.online.stn``, ``hpo.online.hypergrad``,
``hpo.online.fedhyper``) or from here.
"""

from hpo.online.fedhyper import ServerLR, fedavg
from hpo.online.hypergrad import SGDHD, SGDNHD, AdamHD, HypergradLR
from hpo.online.stn import (Hyper, HyperBatch, StnConv2d, StnConvNet, StnHyperparameters, StnLinear, StnMLP,
                            StnResult, StnTrainer)

__all__ = ["SGDHD", "SGDNHD", "AdamHD", "HypergradLR", "ServerLR", "fedavg", "Hyper", "HyperBatch",
           "StnHyperparameters", "StnLinear", "StnConv2d", "StnMLP", "StnConvNet", "StnTrainer", "StnResult"]
