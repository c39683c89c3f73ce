"""The ops monitor: live views of every topic, alerts, a dashboard, metrics and an ops CLI."""
