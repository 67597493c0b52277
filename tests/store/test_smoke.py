"""The storage layer end to end on both databases: write, read, audit chain intact."""

from datetime import date

from hipspine.store.audit import Actor, verify
from hipspine.store.models import Clinic, PainRating, User
from hipspine.store.records import Records


def test_records_are_written_read_and_audited(db):
    with db.transaction() as s:
        clinic = Clinic(name="Hip and Spine Clinic")
        s.add(clinic)
        s.flush()
        user = User(clinic_id=clinic.id, email="dr@example.org", name="Dr A", role="clinician")
        s.add(user)
        s.flush()
        actor = Actor(user.id, "clinician", clinic.id)
        records = Records(s, actor)
        patient = records.add_patient(name="John")
        records.add(
            PainRating(
                patient_id=patient.id,
                region="lumbar",
                side="midline",
                intensity=8,
                rated_on=date(2025, 11, 17),
            )
        )
    with db.transaction() as s:
        page = Records(s, actor).list(PainRating, patient.id)
        assert page.total == 1 and page.items[0].intensity == 8
        result = verify(s)
        assert result.intact and result.checked == 3  # create patient, create rating, list
