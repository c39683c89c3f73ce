from casework.runtime import main
from services.enforcement.app import wire
from services.enforcement.settings import EnforcementSettings

main(EnforcementSettings, wire)
