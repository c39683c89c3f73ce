"""The monitor's pure rules and models: the folded views of every topic, the alerts they
call for, and what the dashboard shows. No I/O; time is passed in."""
