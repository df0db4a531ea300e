"""Watch mode: probe rounds that find problems without an alert, and the rules that
turn a sustained breach into one incident and its recovery into "recovered"."""
