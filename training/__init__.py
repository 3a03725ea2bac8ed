"""gambol.training: on-device trainers (PPO, SAC, ES, APG) and the pieces
they share (acting, GAE, replay buffer, evaluation)."""
