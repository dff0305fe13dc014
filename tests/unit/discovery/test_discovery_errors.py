import pytest

import pinbroker.errors as errors
from pinbroker.errors import (
    AmbiguousServiceError,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidServiceQueryError,
    InvalidServiceRegistrationError,
    NotFoundError,
    PinbrokerError,
    RegistrationNotFoundError,
    ServiceNotFoundError,
)


@pytest.mark.parametrize(
    ("cls", "base", "status"),
    [
        (InvalidServiceRegistrationError, InvalidArgumentError, "INVALID_ARGUMENT"),
        (InvalidServiceQueryError, InvalidArgumentError, "INVALID_ARGUMENT"),
        (RegistrationNotFoundError, NotFoundError, "NOT_FOUND"),
        (ServiceNotFoundError, NotFoundError, "NOT_FOUND"),
        (FailedPreconditionError, PinbrokerError, "FAILED_PRECONDITION"),
        (AmbiguousServiceError, FailedPreconditionError, "FAILED_PRECONDITION"),
    ],
)
def test_discovery_errors_sit_in_the_tree_with_their_status(cls, base, status):
    assert issubclass(cls, base)
    assert cls.status == status
    assert cls.__name__ in errors.__all__
    assert cls.__name__ in (errors.__doc__ or ""), "the tree drawing must show every error"
    assert cls.__doc__


def test_registration_not_found_names_the_id():
    exc = RegistrationNotFoundError("abc123")
    assert exc.registration_id == "abc123"
    assert "'abc123'" in str(exc)


def test_ambiguous_service_names_interface_and_classes():
    exc = AmbiguousServiceError("demo.v1.Demo", ["a.A", "b.B"])
    assert exc.service_classes == ("a.A", "b.B")
    assert str(exc) == (
        "2 services provide interface 'demo.v1.Demo' (service classes 'a.A', 'b.B'); "
        "set service_class to choose one"
    )
