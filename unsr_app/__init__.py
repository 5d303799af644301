"""unsr's desktop studio (PySide6). Only ``worker`` runs engine jobs."""
