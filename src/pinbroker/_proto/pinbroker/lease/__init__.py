"""Generated from proto/ by scripts/gen_protos: do not edit, regenerate."""
