"""Local processes: worker Jobs run as processes on this machine, warm workers, their
trees and the watchdog."""

__all__: list[str] = []
