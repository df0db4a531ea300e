"""The operations guide's maintenance rhythm: daily, weekly, monthly and quarterly
digests computed from stored samples and live probes, and the duplicate scan."""
