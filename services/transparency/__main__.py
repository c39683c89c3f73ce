from casework.runtime import main
from services.transparency.app import wire
from services.transparency.settings import TransparencySettings

main(TransparencySettings, wire)
