# The echo program for the keystroke round-trip bench: its terminal in raw mode (no kernel echo,
# no line buffering, no output processing), every byte read is written straight back.
import os
import tty

tty.setraw(0)
os.write(1, b'READY\r\n')
while True:
    try:
        data = os.read(0, 4096)
    except OSError:  # EIO: the other side of the pty went away
        break
    if not data:
        break
    os.write(1, data)
