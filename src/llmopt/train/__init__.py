"""Training: fine-tuning (finetune/), distillation (distill/) and model merging (merge/)."""
