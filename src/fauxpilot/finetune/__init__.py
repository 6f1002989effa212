"""Fine-tuning on a team's own code: `fauxpilot finetune dataset` turns a source tree into data."""
