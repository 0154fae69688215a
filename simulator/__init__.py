"""Simulator: virtual gauges that publish over MQTT exactly as boards do, so the
whole chain runs and is tested without hardware."""
