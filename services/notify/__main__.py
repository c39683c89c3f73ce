from casework.runtime import main
from services.notify.app import wire
from services.notify.settings import NotifySettings

main(NotifySettings, wire)
