"""Apache Kafka's jars, resolved by Maven from `deploy/kafka/pom.xml` into a cache outside the repo.

`classpath()` returns the cache directory's `*` classpath, resolving it first when it is missing
(once: a lock file serializes concurrent test processes; the jars land in a temporary directory
renamed into place, so a half-resolved cache is never used). The cache is
`$HOOKSTREAM_KAFKA_CACHE` or `~/.cache/hookstream/kafka/<version>`. Java 17+ runs the broker;
Maven is needed only while the cache is empty. Every failure is one line (a `ConfigError`) naming
what to install or where Maven's output is.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from pathlib import Path

from hookstream.runtime.errors import ConfigError

POM = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "pom.xml"
MIN_JAVA = 17
INSTALL_JAVA = "apt-get install openjdk-17-jre-headless"
INSTALL_MAVEN = "apt-get install maven"
_STAMP = ".resolved"


def kafka_version(pom: Path = POM) -> str:
    try:
        text = pom.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"the local Kafka's Maven descriptor {pom} is unreadable: {exc}"
        ) from None
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", text)
    if not found:
        raise ConfigError(f"{pom} names no <kafka.version>")
    return found.group(1).strip()


def cache_dir(version: str | None = None) -> Path:
    override = os.environ.get("HOOKSTREAM_KAFKA_CACHE")
    if override:
        return Path(override).expanduser()
    return Path("~/.cache/hookstream/kafka").expanduser() / (version or kafka_version())


def required_jars(version: str) -> tuple[str, ...]:
    """The jars without which the broker or the format tool cannot start."""
    return (
        f"kafka_2.13-{version}.jar",
        f"kafka-server-{version}.jar",
        f"kafka-storage-{version}.jar",
        f"kafka-clients-{version}.jar",
    )


def missing_jars(directory: Path, version: str) -> list[str]:
    return [name for name in required_jars(version) if not (directory / name).is_file()]


def java_binary() -> str:
    """The `java` to run, checked to be 17 or newer."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ConfigError(
            f"Apache Kafka needs Java {MIN_JAVA} or newer, none found: {INSTALL_JAVA}"
        )
    major = java_major(java)
    if major is not None and major < MIN_JAVA:
        raise ConfigError(
            f"Apache Kafka 4 needs Java {MIN_JAVA} or newer, {java} is Java {major}: {INSTALL_JAVA}"
        )
    return java


def java_major(java: str) -> int | None:
    try:
        out = subprocess.run(  # noqa: S603 - our own argv
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_java_major(out.stderr + out.stdout)


def parse_java_major(version_output: str) -> int | None:
    """`openjdk version "17.0.15" ...` -> 17; `java version "1.8.0_392"` -> 8."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def classpath(version: str | None = None) -> str:
    """`<cache>/*` for `java -cp`, resolving the jars with Maven when the cache lacks them."""
    version = version or kafka_version()
    target = cache_dir(version)
    if not (target / _STAMP).exists() or missing_jars(target, version):
        resolve(target, version)
    return str(target / "*")


def resolve(target: Path, version: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (target / _STAMP).exists() and not missing_jars(target, version):
            return  # another process resolved it while we waited
        mvn = shutil.which("mvn")
        if not mvn:
            raise ConfigError(
                f"Apache Kafka {version}'s jars are not in {target} and Maven is missing "
                f"to fetch them: {INSTALL_MAVEN}"
            )
        staging = target.parent / f".{target.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        log_path = target.parent / f"maven-{version}.log"
        argv = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies"]
        argv += [f"-DoutputDirectory={staging}", f"-Dkafka.version={version}"]
        with log_path.open("wb") as log:
            try:
                code = subprocess.run(  # noqa: S603 - our own argv
                    argv, stdout=log, stderr=subprocess.STDOUT, timeout=600, check=False
                ).returncode
            except subprocess.TimeoutExpired:
                code = -1
        missing = missing_jars(staging, version)
        if code != 0 or missing:
            shutil.rmtree(staging, ignore_errors=True)
            why = f"Maven exited with {code}" if code != 0 else f"missing {', '.join(missing)}"
            raise ConfigError(
                f"could not resolve Apache Kafka {version} with Maven ({why}; is Maven Central "
                f"reachable?): see {log_path}"
            )
        (staging / _STAMP).write_text(version + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)


def main() -> int:
    """`python -m hookstream.embedded.kafka_maven`: resolve the jars now (CI, `make kafka-jars`)."""
    import sys

    try:
        java_binary()
        version = kafka_version()
        path = classpath(version)
    except ConfigError as exc:
        print(f"local Apache Kafka unavailable: {exc}", file=sys.stderr)
        return 1
    jars = len(list(Path(path).parent.glob("*.jar")))
    print(f"Apache Kafka {version}: {jars} jars in {Path(path).parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
