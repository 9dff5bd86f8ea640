"""Training and evaluation of an actor's Speech2Lip model."""
