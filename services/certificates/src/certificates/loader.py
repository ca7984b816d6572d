"""Bulk loader: a realistic data set of N certificates, straight into the service's database.

    certificates-load --count 3000000                  # the database of CertificatesSettings
    python -m certificates.loader --count 100000 --database-url sqlite+aiosqlite:///var/bench.db

It creates certification bodies with an approved scope (the ``approved_bodies`` read-model
rows that issuance checks, as if approval events had granted them), enterprises holding the
certificates (valid USCCs from a seeded generator), and certificates of every scheme, numbered
with the service's own format and per-prefix sequences (``number_sequences`` is brought up to
date, so that issuing over HTTP afterwards continues the sequences). Each certificate gets its
history: the issuance, and for those no longer valid the transition that made them so. The
mix is mostly valid, with some suspended (deadline still ahead), withdrawn, cancelled and
expired; nothing in it is due for a time-based transition on ``--today``.

It writes no outbox rows: this is a data set for benchmarks and tests, not a flow, so nothing
is published to Kafka and no other service hears of these certificates. The same seed and
``--today`` give the same data set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import random
import time
import uuid
from types import SimpleNamespace
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from conformity_shared import db as shared_db, uscc
from conformity_shared.clock import Clock

from certificates import db, domain
from certificates.service.digital import Digital

# Fields a certification body can be approved for (the codes of approval's default
# catalogue), with the scheme their certificates are issued under (one the field admits,
# domain.DEFAULT_FIELD_SCHEMES), what they certify and against which standard.
FIELDS: dict[str, tuple[domain.Scheme, tuple[str, ...], tuple[str, ...]]] = {
    "CCC-01": (domain.Scheme.CCC, ("PVC-insulated power cables", "Flexible cords for household appliances"),
               ("GB/T 5023.3-2008", "GB/T 5013.4-2008")),
    "CCC-02": (domain.Scheme.CCC, ("Plugs and socket-outlets for household use", "Switches for fixed installations"),
               ("GB/T 2099.1-2021", "GB/T 16915.1-2014")),
    "CCC-03": (domain.Scheme.CCC, ("Miniature circuit breakers", "Residual current operated circuit breakers"),
               ("GB/T 10963.1-2020", "GB/T 16917.1-2014")),
    "CCC-04": (domain.Scheme.CCC, ("Single-phase small-power motors",), ("GB/T 12350-2022",)),
    "CCC-05": (domain.Scheme.CCC, ("Hand-held electric drills", "Angle grinders"), ("GB/T 3883.1-2014",)),
    "CCC-07": (domain.Scheme.CCC, ("Electric kettles", "Household refrigerators", "Room air conditioners",
                                   "Electric rice cookers", "Hair dryers"),
               ("GB 4706.1-2005; GB 4706.19-2008", "GB 4706.1-2005; GB 4706.13-2014", "GB 4706.1-2005; GB 4706.32-2012")),
    "CCC-08": (domain.Scheme.CCC, ("Laptop computers", "LCD televisions", "Power adapters for IT equipment"),
               ("GB 4943.1-2022; GB/T 9254.1-2021", "GB 8898-2011")),
    "CCC-09": (domain.Scheme.CCC, ("LED luminaires", "Self-ballasted LED lamps"), ("GB 7000.1-2015", "GB 24906-2010")),
    "CCC-10": (domain.Scheme.CCC, ("Mobile phones", "Wireless routers"), ("GB 4943.1-2022; YD/T 1592.2-2012",)),
    "CCC-11": (domain.Scheme.CCC, ("Passenger cars", "Motorcycle helmets"), ("GB 7258-2017", "GB 811-2022")),
    "CCC-12": (domain.Scheme.CCC, ("Passenger car radial tyres",), ("GB 9743-2015",)),
    "CCC-19": (domain.Scheme.CCC, ("Interior wall coatings", "Ceramic tiles"), ("GB 18582-2020", "GB 6566-2010")),
    "CCC-20": (domain.Scheme.CCC, ("Plush toys", "Child restraint systems"), ("GB 6675.1-2014", "GB 27887-2011")),
    "CCC-22": (domain.Scheme.CCC, ("Domestic gas cooking appliances", "Gas water heaters"),
               ("GB 16410-2020", "GB 6932-2015")),
    "MS-QMS": (domain.Scheme.MANAGEMENT_SYSTEM, ("Design and manufacture of {line}", "Production of {line}"),
               ("GB/T 19001-2016",)),
    "MS-EMS": (domain.Scheme.MANAGEMENT_SYSTEM, ("Environmental management of the production of {line}",),
               ("GB/T 24001-2016",)),
    "MS-OHSMS": (domain.Scheme.MANAGEMENT_SYSTEM, ("Occupational health and safety in the production of {line}",),
                 ("GB/T 45001-2020",)),
    "MS-ISMS": (domain.Scheme.MANAGEMENT_SYSTEM, ("Information security of the operation of online services",),
                ("GB/T 22080-2016",)),
    "MS-FSMS": (domain.Scheme.MANAGEMENT_SYSTEM, ("Food safety in the processing of {line}",), ("GB/T 22000-2006",)),
    "VP-GEN": (domain.Scheme.VOLUNTARY_PRODUCT, ("Energy-saving {line}", "Water-saving sanitary fittings"),
               ("CQC 3150-2021", "GB 25501-2019")),
    "VP-ORG": (domain.Scheme.VOLUNTARY_PRODUCT, ("Organic rice", "Organic green tea"), ("GB/T 19630-2019",)),
    "SV-ASS": (domain.Scheme.SERVICE, ("After-sales service for {line}",), ("GB/T 27922-2011",)),
}

CITIES = (  # (name, administrative division code of a district)
    ("Beijing", "110105"), ("Shanghai", "310115"), ("Guangzhou", "440106"), ("Shenzhen", "440305"),
    ("Hangzhou", "330106"), ("Suzhou", "320505"), ("Ningbo", "330212"), ("Fuzhou", "350102"),
    ("Chengdu", "510107"), ("Wuhan", "420106"), ("Tianjin", "120116"), ("Qingdao", "370212"),
    ("Foshan", "440606"), ("Xiamen", "350206"), ("Changsha", "430104"), ("Zhengzhou", "410105"),
)
TRADE_NAMES = (
    "Hengda", "Meili", "Huaxin", "Jinlong", "Tianyu", "Xinghe", "Ruifeng", "Haitian", "Zhongke", "Dongfang",
    "Baoli", "Kangda", "Longsheng", "Mingyang", "Shengtai", "Yuanhang", "Jiahe", "Fuxing", "Anxin", "Hongtu",
)
LINES = (
    "household electrical appliances", "electric kettles", "LED lighting", "power cables", "plastic toys",
    "auto parts", "textile products", "packaged foods", "furniture", "building materials", "electronic components",
)
KINDS = ("Electric Appliance", "Technology", "Industrial", "Manufacturing", "Trading", "Food", "Electronics")

# Share of certificates in each status; suspensions last DEFAULT_SUSPENSION_MONTHS.
STATUS_MIX = (
    (domain.Status.VALID, 0.90),
    (domain.Status.SUSPENDED, 0.02),
    (domain.Status.WITHDRAWN, 0.02),
    (domain.Status.CANCELLED, 0.02),
    (domain.Status.EXPIRED, 0.04),
)
MANUAL_REASONS = (
    domain.SuspensionReason.SPOT_CHECK_FAILED, domain.SuspensionReason.SURVEILLANCE_OVERDUE,
    domain.SuspensionReason.MISUSE, domain.SuspensionReason.HOLDER_REQUEST,
)


@dataclass
class Body:
    uscc: str
    name: str
    fields: tuple[str, ...]


@dataclass
class Enterprise:
    uscc: str
    name: str
    line: str


@dataclass
class LoadReport:
    url: str
    certificates: int
    history_rows: int
    bodies: int
    enterprises: int
    seconds: float
    by_status: dict[str, int] = field(default_factory=dict)
    credentials: int = 0  # signed credentials written (none when loaded without a signing key)
    signing_seconds: float = 0.0  # of ``seconds``, spent building and signing them

    @property
    def rows_per_second(self) -> float:
        return self.certificates / self.seconds if self.seconds else float("inf")


@contextlib.contextmanager
def progress_bar(total: int, label: str, *, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr; `update(done)` moves it."""
    if not enabled:
        yield lambda _done: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def _unique_usccs(rng: random.Random, count: int, taken: set[str], divisions: Sequence[str]) -> Iterator[str]:
    made = 0
    while made < count:
        code = uscc.make(rng, division=rng.choice(divisions))
        if code not in taken:
            taken.add(code)
            made += 1
            yield code


def make_bodies(rng: random.Random, count: int, taken: set[str]) -> list[Body]:
    """Certification bodies, each approved for 2 to 6 fields of one or two families."""
    codes = sorted(FIELDS)
    bodies = []
    for i, code in enumerate(_unique_usccs(rng, count, taken, [d for _, d in CITIES])):
        city = CITIES[i % len(CITIES)][0]
        fields = tuple(sorted(rng.sample(codes, rng.randint(2, 6))))
        bodies.append(Body(code, f"{city} {rng.choice(TRADE_NAMES)} Certification Center Co., Ltd. ({i + 1})", fields))
    return bodies


def make_enterprises(rng: random.Random, count: int, taken: set[str]) -> list[Enterprise]:
    enterprises = []
    for code in _unique_usccs(rng, count, taken, [d for _, d in CITIES]):
        city = rng.choice(CITIES)[0]
        name = f"{city} {rng.choice(TRADE_NAMES)} {rng.choice(KINDS)} Co., Ltd."
        enterprises.append(Enterprise(code, name, rng.choice(LINES)))
    return enterprises


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def _day_between(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, max((last - first).days, 0)))


class Generator:
    """Certificates one at a time, with their history, consistent with the rules on ``today``.

    The random draws happen in a fixed order (body, holder, field, status, validity, product,
    standard, then what changed the status), so that a seed always gives the same data set.
    """

    def __init__(self, rng: random.Random, bodies: list[Body], enterprises: list[Enterprise], today: dt.date,
                 sequences: dict[str, int]) -> None:
        self.rng, self.bodies, self.enterprises, self.today = rng, bodies, enterprises, today
        self.sequences = sequences
        statuses, weights = zip(*STATUS_MIX)
        self._statuses, self._weights = list(statuses), list(weights)
        self._prefixes: dict[tuple[domain.Scheme, int, str], str] = {}

    def certificate(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One certificate row and its history rows."""
        rng = self.rng
        body, holder = rng.choice(self.bodies), rng.choice(self.enterprises)
        code = rng.choice(body.fields)
        scheme, products, standards = FIELDS[code]
        status = rng.choices(self._statuses, self._weights)[0]
        valid_from = self._valid_from(scheme, status)
        valid_until = domain.default_valid_until(scheme, valid_from)
        number = self._next_number(scheme, valid_from.year, body.uscc)
        issued_at = _at(valid_from, 9)
        row: dict[str, Any] = dict(
            number=number, issuing_body_uscc=body.uscc, holder_uscc=holder.uscc, holder_name=holder.name,
            scheme=scheme.value, field=code, product=rng.choice(products).format(line=holder.line),
            standard=rng.choice(standards), valid_from=valid_from, valid_until=valid_until, status=status.value,
            suspension_reason=None, suspended_until=None, suspended_by=None, last_change_at=issued_at,
            last_change_reason="issued", version=1,
        )
        history = [_history(number, None, domain.Status.VALID, "issued", f"agency:{body.uscc}", issued_at)]
        change = self._status_change(row, status, body)
        if change is not None:
            history.append(change)
            row.update(last_change_at=change["at"], last_change_reason=change["reason"])
        return row, history

    def _valid_from(self, scheme: domain.Scheme, status: domain.Status) -> dt.date:
        span = 365 * domain.DEFAULT_VALIDITY_YEARS[scheme]
        if status is domain.Status.EXPIRED:
            return self.today - dt.timedelta(days=self.rng.randint(span + 2, span + 900))
        return self.today - dt.timedelta(days=self.rng.randint(0, span - 3))  # still within validity on today

    def _next_number(self, scheme: domain.Scheme, year: int, body_uscc: str) -> str:
        key = (scheme, year, body_uscc)
        prefix = self._prefixes.get(key) or self._prefixes.setdefault(key, domain.number_prefix(*key))
        sequence = self.sequences.get(prefix, 0) + 1
        self.sequences[prefix] = sequence
        return domain.certificate_number(prefix, sequence)

    def _status_change(self, row: dict[str, Any], status: domain.Status, body: Body) -> dict[str, Any] | None:
        """The history row of the transition that left the certificate in ``status`` (None for
        valid), recording a suspension on ``row``."""
        rng, valid_from, number = self.rng, row["valid_from"], row["number"]
        match status:
            case domain.Status.SUSPENDED:
                return self._suspension(row, body)
            case domain.Status.WITHDRAWN:
                day = _day_between(rng, valid_from, self.today)
                return _history(number, domain.Status.VALID, status,
                                "nonconformities found in a surveillance audit were not corrected",
                                f"agency:{body.uscc}", _at(day, 10))
            case domain.Status.CANCELLED:
                day = _day_between(rng, valid_from, self.today)
                return _history(number, domain.Status.VALID, status, "the holder stopped producing the certified product",
                                f"agency:{body.uscc}", _at(day, 10))
            case domain.Status.EXPIRED:
                until = row["valid_until"]
                return _history(number, domain.Status.VALID, status, f"validity ended on {until}", domain.AUTOMATIC,
                                _at(until + dt.timedelta(days=1), 0))
        return None

    def _suspension(self, row: dict[str, Any], body: Body) -> dict[str, Any]:
        """Suspended in the last five months: its deadline is ahead."""
        rng = self.rng
        day = _day_between(rng, max(row["valid_from"], self.today - dt.timedelta(days=150)), self.today)
        reason = rng.choice(MANUAL_REASONS)
        by, actor = None, f"agency:{body.uscc}"
        if reason is domain.SuspensionReason.SPOT_CHECK_FAILED:  # by supervision's event
            by, actor = str(uuid.UUID(int=rng.getrandbits(128), version=4)), None
        elif reason is domain.SuspensionReason.HOLDER_REQUEST:
            by = f"holder letter {day.year}-{rng.randint(1000, 9999)}"
        until = domain.add_months(day, domain.DEFAULT_SUSPENSION_MONTHS)
        row.update(suspension_reason=reason.value, suspended_until=until, suspended_by=by)
        return _history(row["number"], domain.Status.VALID, domain.Status.SUSPENDED, reason.value, actor, _at(day, 10))


def _history(number: str, from_status: domain.Status | None, to_status: domain.Status, reason: str,
             actor: str | None, at: dt.datetime) -> dict[str, Any]:
    return dict(certificate_number=number, from_status=from_status.value if from_status else None,
                to_status=to_status.value, reason=reason, actor=actor, cause_event_id=None, at=at, note=None)


def _sqlite_tuning(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA cache_size=-262144")  # 256 MiB: index pages stay in memory while loading
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA wal_autocheckpoint=50000")  # fewer checkpoints: index pages rewritten once, not per batch
    cur.close()


def _engine(url: str) -> AsyncEngine:
    engine = shared_db.create_engine(url)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine.sync_engine, "connect", _sqlite_tuning)
    return engine


def _upsert_sequences(dialect: str) -> Any:
    t = db.number_sequences
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(t)
    larger = sa.func.greatest if dialect == "postgresql" else sa.func.max  # SQLite's max(a, b) is scalar
    return statement.on_conflict_do_update(
        index_elements=[t.c.prefix], set_={"last": larger(t.c.last, statement.excluded.last)}
    )


async def load(
    url: str,
    count: int,
    *,
    seed: int = 2026,
    bodies: int | None = None,
    enterprises: int | None = None,
    today: dt.date | None = None,
    batch_size: int = 25_000,
    migrate: bool = True,
    progress: Callable[[int], None] | None = None,
    clock: Clock | None = None,
    digital: Digital | None = None,
) -> LoadReport:
    """Load ``count`` certificates into the database at ``url`` (migrated first); no outbox rows.

    The data set is consistent on ``today`` (default: the regulator's today by ``clock``). With
    ``digital`` (its signing key configured) each certificate gets its signed credential and its
    status list entry, and the bodies' status lists the bits of the statuses loaded; without it,
    credentials are signed on first request."""
    if count < 1:
        raise ValueError("count must be at least 1")
    clock = clock or Clock()
    today = today or clock.today()
    bodies = bodies or max(3, min(700, count // 7_500))
    enterprises = enterprises or max(1, count // 3)
    rng = random.Random(seed)
    if migrate:
        await shared_db.migrate("certificates:migrations", url)
    engine = _engine(url)
    started = time.monotonic()
    try:
        taken, sequences = await _already_loaded(engine)
        body_list = make_bodies(rng, bodies, taken)
        enterprise_list = make_enterprises(rng, enterprises, taken)
        issuing = await _write_bodies(engine, rng, body_list, clock.now())
        generator = Generator(rng, body_list, enterprise_list, today, sequences)
        signer = CredentialSigner(digital, issuing, generator.sequences, clock.now()) if digital and digital.configured else None
        history_rows, by_status = await _write_certificates(engine, generator, count, batch_size, progress, signer)
        await _write_sequences(engine, generator.sequences, batch_size)
        if signer is not None:
            await signer.write_status_lists(engine)
    finally:
        await engine.dispose()
    return LoadReport(url, count, history_rows, len(body_list), len(enterprise_list), time.monotonic() - started,
                      by_status, signer.signed if signer else 0, signer.seconds if signer else 0.0)


class CredentialSigner:
    """Signs the loaded certificates' credentials, allocating their status list indexes from the
    same sequences issuance uses, and gathers the status bits their statuses set."""

    def __init__(self, digital: Digital, bodies: dict[str, domain.IssuingBody], sequences: dict[str, int],
                 now: dt.datetime) -> None:
        self.digital, self.bodies, self.sequences, self.now = digital, bodies, sequences, now
        self.base_url = digital.require()
        self.kid = digital.keys.kid or ""
        self.statuses: dict[str, dict[int, domain.Status]] = {}
        self.signed, self.seconds = 0, 0.0

    def sign(self, row: dict[str, Any]) -> dict[str, Any]:
        """The credential row of the certificate ``row`` (which gets its status index)."""
        started = time.perf_counter()
        body = row["issuing_body_uscc"]
        prefix = db.status_index_prefix(body)
        index = self.sequences.get(prefix, 0)
        self.sequences[prefix] = index + 1
        row["status_index"] = index
        status = domain.Status(row["status"])
        if any(domain.status_bits(status).values()):
            self.statuses.setdefault(body, {})[index] = status
        cert = db.certificate_from_row(SimpleNamespace(**row))
        claims = domain.certificate_credential(cert, self.bodies[body], base_url=self.base_url, status_index=index,
                                               zone=self.digital.zone)
        token = self.digital.keys.sign(claims)
        self.signed += 1
        self.seconds += time.perf_counter() - started
        return dict(certificate_number=row["number"], kid=self.kid, token=token, signed_at=self.now)

    async def write_status_lists(self, engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            session = AsyncSession(bind=conn)
            for body, statuses in sorted(self.statuses.items()):
                await db.follow_statuses(session, body, statuses, self.now)
            await session.flush()


async def _already_loaded(engine: AsyncEngine) -> tuple[set[str], dict[str, int]]:
    """The USCCs of the bodies already there (new ones must differ) and the sequences in use."""
    async with engine.connect() as conn:
        taken = set((await conn.execute(sa.select(db.bodies.c.uscc))).scalars())
        t = db.number_sequences
        sequences = {row.prefix: row.last for row in await conn.execute(sa.select(t.c.prefix, t.c.last))}
    return taken, sequences


async def _write_bodies(
    engine: AsyncEngine, rng: random.Random, bodies: list[Body], now: dt.datetime
) -> dict[str, domain.IssuingBody]:
    """The read-model rows issuance checks, as if approval events had granted each body under
    the default catalogue (its fields and the schemes they admit); returns them by USCC."""
    rows = [
        dict(uscc=b.uscc, approval_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), name=b.name,
             status=domain.BodyStatus.ACTIVE.value, fields=list(b.fields), suspended_fields=[],
             field_schemes=db.field_schemes_value({f: domain.DEFAULT_FIELD_SCHEMES[f] for f in b.fields}),
             updated_at=now)
        for b in bodies
    ]
    async with engine.begin() as conn:
        await conn.execute(sa.insert(db.bodies), rows)
    return {r["uscc"]: domain.IssuingBody(r["uscc"], r["name"], r["approval_id"], tuple(r["fields"])) for r in rows}


async def _write_certificates(
    engine: AsyncEngine, generator: Generator, count: int, batch_size: int, progress: Callable[[int], None] | None,
    signer: CredentialSigner | None = None,
) -> tuple[int, dict[str, int]]:
    """``count`` certificates with their history, ``batch_size`` per transaction; returns the
    number of history rows and the count per status."""
    done = history_rows = 0
    by_status: dict[str, int] = {}
    while done < count:
        size = min(batch_size, count - done)
        rows, history = [], []
        for _ in range(size):
            row, entries = generator.certificate()
            rows.append(row)
            history.extend(entries)
            by_status[row["status"]] = by_status.get(row["status"], 0) + 1
        rows.sort(key=lambda r: r["number"])  # neighbouring keys: fewer index pages touched per batch
        signed = [signer.sign(row) for row in rows] if signer else []
        async with engine.begin() as conn:
            await shared_db.insert_many(conn, db.certificates, rows)
            await shared_db.insert_many(conn, db.history, history)
            if signed:
                await shared_db.insert_many(conn, db.digital_credentials, signed)
        done += size
        history_rows += len(history)
        if progress:
            progress(done)
    return history_rows, by_status


async def _write_sequences(engine: AsyncEngine, sequences: dict[str, int], batch_size: int) -> None:
    """Bring ``number_sequences`` up to date, so that issuing over HTTP continues the sequences."""
    touched = [dict(prefix=p, last=last) for p, last in sorted(sequences.items())]
    async with engine.begin() as conn:
        for i in range(0, len(touched), batch_size):
            await conn.execute(_upsert_sequences(engine.dialect.name), touched[i : i + batch_size])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="certificates-load",
        description="Load a realistic data set of certificates into the certificates database "
        "(for benchmarks and tests; writes no outbox rows, publishes nothing).",
    )
    parser.add_argument("--count", "-n", type=int, required=True, help="how many certificates")
    parser.add_argument("--database-url", help="SQLAlchemy async URL (default: the service's settings)")
    parser.add_argument("--data-dir", type=Path, help="directory of the default SQLite file")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (same seed, same data set)")
    parser.add_argument("--bodies", type=int, help="certification bodies (default: count / 7,500, 3 to 700)")
    parser.add_argument("--enterprises", type=int, help="certificate holders (default: count / 3)")
    parser.add_argument("--today", type=dt.date.fromisoformat, help="the day the data set is consistent on (YYYY-MM-DD)")
    parser.add_argument("--batch-size", type=int, default=25_000, help="rows per insert and transaction")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    parser.add_argument("--without-credentials", action="store_true",
                        help="sign no credentials (they are then signed on first request)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`certificates-load --count N`: generate and load a data set of N certificates."""
    from certificates.settings import CertificatesSettings

    parser = _parser()
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    settings = CertificatesSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    url = args.database_url or settings.resolved_database_url()
    with progress_bar(args.count, "certificates", enabled=not args.quiet) as update:
        report = asyncio.run(
            load(url, args.count, seed=args.seed, bodies=args.bodies, enterprises=args.enterprises, today=args.today,
                 batch_size=args.batch_size, progress=update, clock=settings.clock(),
                 digital=None if args.without_credentials else Digital.from_settings(settings))
        )
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(report.by_status.items()))
    print(
        f"loaded {report.certificates:,} certificates ({statuses}) with {report.history_rows:,} history rows, "
        f"{report.bodies:,} bodies, {report.enterprises:,} enterprises in {report.seconds:.1f}s "
        f"({report.rows_per_second:,.0f} certificates/s) into {report.url}"
        + (f"; {report.credentials:,} credentials signed in {report.signing_seconds:.1f}s" if report.credentials else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
