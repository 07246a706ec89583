"""Deployment: nbo's recurring jobs for cron, systemd and Airflow (config/schedule.toml)."""
