from casework.runtime import main
from services.intake.app import wire
from services.intake.settings import IntakeSettings

main(IntakeSettings, wire)
