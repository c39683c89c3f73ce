from casework.runtime import main
from services.review.app import wire
from services.review.settings import ReviewSettings

main(ReviewSettings, wire)
