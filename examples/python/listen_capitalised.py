# The seed's function trigger example (docs: Triggers, and Python API: Listen), as written.
# As in listen.py, flights have no `step`: the function fails for each notification, and
# listening goes on.
from pyaviso import NotificationManager

# define function to be called
def do_something(notification):
   print(f"Notification for step {notification['request']['step']} received")
   # now do something useful with it ...

# define the trigger
trigger = {"type": "function", "function": do_something}

# create a event listener request that uses that trigger
request = {"country": "Italy"}
listeners = {"listeners": [{"event": "flight", "request": request, "triggers": [trigger]}]}

# run it
aviso = NotificationManager()
aviso.listen(listeners=listeners)
