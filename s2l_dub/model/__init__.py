"""The Speech2Lip model: canonical lip generator, GAMEM mapping, Blend-Net and sync expert."""
