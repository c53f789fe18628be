"""Celery worker and beat for the distributed mode."""
