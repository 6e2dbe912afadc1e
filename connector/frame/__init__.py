"""Frame: join one run's CRM records and usage into the one account table the engine reads."""

from connector.frame.build import CURRENT_PREFIX, Extract, build_frame, frame_columns

__all__ = ["CURRENT_PREFIX", "Extract", "build_frame", "frame_columns"]
