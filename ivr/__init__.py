"""Call handling: Asterisk's wire protocols as sans-IO codecs and their servers (AudioSocket media, FastAGI
and AMI control), the declared call-flow state machine and its one command interpreter, the per-call session
(caller audio, playback, dialog loop), escalation, the call log, the voice booking dialog, the runtime.

May import: hotline, speech, kb, booking. Nothing imports ivr except cli.
"""
