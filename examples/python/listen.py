# The seed's "Aviso as a Python API" example, as written (docs: Getting Started).
# Runs unchanged with pyaviso 1.x or with this project's `aviso` package (pip install ./python).
# Note: the flight event has no `step`, so do_something raises KeyError for every notification;
# the failure is reported and listening goes on (listen_number.py reads a key flights have).
from pyaviso import NotificationManager

# define function to be called
def do_something(notification):
   print(f"Notification for step {notification['request']['step']} received")
   # now do something useful with it ...

# define the trigger
trigger = {"type": "function", "function": do_something}

# create a event listener request that uses that trigger
request = {"country": "italy"}
listeners = {"listeners": [{"event": "flight", "request": request, "triggers": [trigger]}]}

# run it
aviso = NotificationManager()
aviso.listen(listeners=listeners)
