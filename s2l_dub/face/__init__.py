"""Face stage: detection, 68-point landmarks, tracking, head geometry and regions."""
