"""Who is on call: local rotations with overrides, PagerDuty and Opsgenie schedules."""
