"""Call handling: Asterisk protocols (AudioSocket, FastAGI, AMI), the call flow, booking dialog, escalation."""
