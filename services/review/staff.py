"""`python -m services.review.staff`: the operators' staff command, by the name the deploy
manifests and the README give it; the command itself is services/review/auth/manage.py."""

if __name__ == "__main__":
    from services.review.auth.manage import main

    raise SystemExit(main())
