# The seed's notify example (docs: Python API: Notify), as written.
from pyaviso import NotificationManager

aviso = NotificationManager()

# define the parameters of the notification
notification = {
   "event":"flight",
   "country": "italy",
   "date": "20210101",
   "airport": "FCO",
   "number": "AZ203",
   "payload": "Landed"
}

# send the notification
aviso.notify(notification)
