"""Unlearning by clamping SAE latents (issue 19, in progress): questions and their formats exist and are tested;
the plugin is not registered yet."""
