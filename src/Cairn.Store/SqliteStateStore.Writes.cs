using System.Collections.Concurrent;
using Cairn.Core;
using Cairn.Core.State;
using Microsoft.Data.Sqlite;

namespace Cairn.Store;

// Group commit without a committer thread: the caller that finds no commit under way becomes the leader and commits
// everything queued on its own thread (an uncontended write completes with no thread hop); callers that arrive while
// a commit runs queue up and are committed together in the next group. Each caller's set runs inside its own
// savepoint (a throwing set is rolled back alone and only its caller sees the exception); one COMMIT, one fsync, per
// group.
public sealed partial class SqliteStateStore
{
    private const int MaxGroup = 512;

    private readonly ConcurrentQueue<WriteRequest> _queue = new();
    private readonly Lock _commitGate = new();
    private readonly Writer _writer;
    private int _disposed;
    private bool _writerClosed; // under _commitGate

    private long _commits, _changeSets;


    /// <summary>Transactions committed so far (each is one fsync); with group commit, fewer than <see cref="ChangeSets"/>.</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Callers' change sets applied so far.</summary>
    public long ChangeSets => Interlocked.Read(ref _changeSets);

    /// <inheritdoc />
    public Task WriteAsync(Action<IStateWriter> changes, CancellationToken ct = default) => WriteAsync(changes, durable: true, ct);

    /// <inheritdoc />
    public Task WriteAsync(Action<IStateWriter> changes, bool durable, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (ct.IsCancellationRequested) return Task.FromCanceled(ct);
        var request = new WriteRequest(changes) { Durable = durable };
        if (ct.CanBeCanceled) request.WatchCancellation(ct);
        _queue.Enqueue(request);
        // The commit (an fsync) runs on a blocking-I/O thread, never on the caller's: a request thread or a job's
        // pool thread is not held while the disk syncs, and concurrent writers still share one commit.
        BlockingIo.Post(() => Drive(null));
        return request.Task;
    }

    /// <summary>Commits queued writes, then closes the database. Writes after this are refused.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        lock (_commitGate)
        {
            CommitQueued(own: null);
            _writer.Dispose();
            _writerClosed = true;
        }
        _reads.Dispose();
    }

    // Commits groups until the queue is empty, or (for a caller) until its own request is done; what remains is
    // handed to a pool thread so the caller's continuation is not held up by other callers' commits.
    private void Drive(WriteRequest? own)
    {
        while (true)
        {
            // A write issued from inside another write's action stays queued: the leader's loop commits it next.
            if (_commitGate.IsHeldByCurrentThread || !_commitGate.TryEnter()) return; // the leader re-checks the queue after it lets go
            var done = false;
            try
            {
                done = CommitQueued(own);
            }
            finally
            {
                _commitGate.Exit();
            }
            if (_queue.IsEmpty) return;
            if (done)
            {
                BlockingIo.Post(() => Drive(null));
                return;
            }
        }
    }

    /// <summary>Under the commit gate. True when <paramref name="own"/> was completed and work may remain.</summary>
    private bool CommitQueued(WriteRequest? own)
    {
        var group = new List<WriteRequest>();
        while (!_queue.IsEmpty)
        {
            group.Clear();
            while (group.Count < MaxGroup && _queue.TryDequeue(out var next))
            {
                if (next.TryTake()) group.Add(next);
            }
            if (group.Count > 0)
            {
                if (_writerClosed) FailAll(group, new ObjectDisposedException(nameof(SqliteStateStore)));
                else Commit(group);
            }
            if (own is not null && own.Task.IsCompleted) return true;
        }
        return false;
    }

    private static void FailAll(List<WriteRequest> group, Exception error)
    {
        foreach (var r in group) r.Fail(error);
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "Any failure is handed to the waiting caller (request.Error, commitError); the committer thread must live on.")]
    private void Commit(List<WriteRequest> group)
    {
        Exception? commitError = null;
        try
        {
            // A group with no durable request commits without fsync (WAL, synchronous=NORMAL): the next durable commit
            // or checkpoint carries it to disk. Only records that can be rebuilt after a crash are written this way.
            bool durable = false;
            foreach (var r in group) durable |= r.Durable;
            _writer.SetDurable(durable);
            _writer.Begin();
            foreach (var request in group)
            {
                _writer.Savepoint();
                try
                {
                    request.Changes(_writer);
                    _writer.Release();
                }
                catch (Exception ex)
                {
                    request.Error = ex;
                    _writer.RollbackToSavepoint();
                }
            }
            _writer.Commit();
            Interlocked.Increment(ref _commits);
            Interlocked.Add(ref _changeSets, group.Count);
        }
        catch (Exception ex)
        {
            // The transaction itself failed (I/O error, disk full): nobody's changes are durable.
            commitError = ex;
            _writer.Abort();
        }
        foreach (var request in group)
        {
            var error = commitError ?? request.Error;
            if (error is null) request.Complete();
            else request.Fail(error);
        }
    }

    private sealed class WriteRequest(Action<IStateWriter> changes)
    {
        private const int Queued = 0, Taken = 1, Cancelled = 2;
        private readonly TaskCompletionSource _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private CancellationTokenRegistration _registration;
        private int _state;

        public Action<IStateWriter> Changes { get; } = changes;
        public bool Durable { get; init; } = true;
        public Exception? Error { get; set; }
        public Task Task => _tcs.Task;

        public void WatchCancellation(CancellationToken ct) =>
            _registration = ct.Register(() =>
            {
                // Only a request the committer has not taken yet can be cancelled; once taken it commits or fails.
                if (Interlocked.CompareExchange(ref _state, Cancelled, Queued) == Queued) _tcs.TrySetCanceled(ct);
            });

        public bool TryTake() => Interlocked.CompareExchange(ref _state, Taken, Queued) == Queued;

        public void Complete()
        {
            _registration.Dispose();
            _tcs.TrySetResult();
        }

        public void Fail(Exception error)
        {
            _registration.Dispose();
            _tcs.TrySetException(error);
        }
    }

    /// <summary>The single write connection and its prepared statements; used only by the committer thread.</summary>
    private sealed class Writer(SqliteConnection conn) : IStateWriter, IDisposable
    {
        private readonly Dictionary<string, SqliteCommand> _commands = [];
        private readonly ItemUpsert _items = new(conn);
        private SqliteTransaction? _tx;

        // A job's request and conflict keys never change after submission but can be large (a 1,000-item request is
        // hundreds of KB), and every status change puts the whole record. So for jobs still running we remember which
        // request and key-list instances their committed row holds, and a put carrying the same instances updates
        // everything else only. Bookkeeping follows savepoints and the transaction, so a rollback forgets it.
        private readonly Dictionary<string, (object? Request, object? Keys)> _rowHolds = [];
        private readonly List<(string Id, (object?, object?)? Holds)> _txHolds = [], _callerHolds = [];

        private bool _durable = true;

        /// <summary>Switches synchronous between FULL (fsync at commit) and NORMAL; only between transactions.</summary>
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "Two constant PRAGMA texts.")]
        public void SetDurable(bool durable)
        {
            if (durable == _durable) return;
            using var cmd = conn.CreateCommand();
            cmd.CommandText = durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
            cmd.ExecuteNonQuery();
            _durable = durable;
        }

        public void Begin()
        {
            _tx = conn.BeginTransaction(deferred: false);
            _txHolds.Clear();
        }

        public void Savepoint()
        {
            _tx!.Save("caller");
            _callerHolds.Clear();
        }

        public void Release()
        {
            _tx!.Release("caller");
            _txHolds.AddRange(_callerHolds);
            _callerHolds.Clear();
        }

        public void RollbackToSavepoint()
        {
            _tx!.Rollback("caller");
            _tx.Release("caller");
            _callerHolds.Clear();
        }

        public void Commit()
        {
            _tx!.Commit();
            _tx.Dispose();
            _tx = null;
            foreach (var (id, holds) in _txHolds)
            {
                if (holds is { } h) _rowHolds[id] = h;
                else _rowHolds.Remove(id);
            }
            _txHolds.Clear();
        }

        public void Abort()
        {
            try
            {
                _tx?.Rollback();
            }
            catch (SqliteException)
            {
                // SQLite may already have rolled back on the I/O error.
            }
            _tx?.Dispose();
            _tx = null;
            _txHolds.Clear();
            _callerHolds.Clear();
        }

        [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "The SQL is compile-time text from this assembly; values are bound as parameters.")]
        private int Exec(string sql, params object?[] args)
        {
            if (!_commands.TryGetValue(sql, out var cmd))
            {
                cmd = conn.CreateCommand();
                cmd.CommandText = sql;
                _commands[sql] = cmd;
            }
            cmd.Transaction = _tx ?? throw new InvalidOperationException("a state writer is usable only inside WriteAsync's action");
            Sql.Bind(cmd, args);
            return cmd.ExecuteNonQuery();
        }

        public void Put(VolumeRecord v) => Exec(
            "INSERT INTO volumes (id, project, name, status, size, created, updated, attributes, module) VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8) " +
            "ON CONFLICT (id) DO UPDATE SET project = excluded.project, name = excluded.name, status = excluded.status, size = excluded.size, " +
            "created = excluded.created, updated = excluded.updated, attributes = excluded.attributes, module = excluded.module",
            Sql.Id(v.Id), v.Project, v.Name, v.Status, v.Size, Sql.Time(v.Created), Sql.Time(v.Updated), Sql.Node(v.Attributes), v.Module);

        public void DeleteVolume(Guid id) => Exec("DELETE FROM volumes WHERE id = @p0", Sql.Id(id));

        public void Put(SnapshotRecord s) => Exec(
            "INSERT INTO snapshots (id, volume_id, name, status, size, created, updated, attributes, module) VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8) " +
            "ON CONFLICT (id) DO UPDATE SET volume_id = excluded.volume_id, name = excluded.name, status = excluded.status, size = excluded.size, " +
            "created = excluded.created, updated = excluded.updated, attributes = excluded.attributes, module = excluded.module",
            Sql.Id(s.Id), Sql.Id(s.VolumeId), s.Name, s.Status, s.Size, Sql.Time(s.Created), Sql.Time(s.Updated), Sql.Node(s.Attributes), s.Module);

        public void DeleteSnapshot(Guid id) => Exec("DELETE FROM snapshots WHERE id = @p0", Sql.Id(id));

        public void Put(PoolRecord p) => Exec(
            "INSERT INTO pools (name, engine, created, attributes) VALUES (@p0, @p1, @p2, @p3) " +
            "ON CONFLICT (name) DO UPDATE SET engine = excluded.engine, attributes = excluded.attributes",
            p.Name, p.Engine, Sql.Time(p.Created), Sql.Node(p.Attributes));

        public void DeletePool(string name) => Exec("DELETE FROM pools WHERE name = @p0", name);

        public void Put(DocumentRecord d) => Exec(
            "INSERT INTO documents (module, kind, doc_key, project, body, updated) VALUES (@p0, @p1, @p2, @p3, @p4, @p5) " +
            "ON CONFLICT (module, kind, doc_key) DO UPDATE SET project = excluded.project, body = excluded.body, updated = excluded.updated",
            d.Module, d.Kind, d.Key, (object?)d.Project ?? DBNull.Value, d.Body.ToJsonString(), Sql.Time(d.Updated));

        public void DeleteDocument(string module, string kind, string key) =>
            Exec("DELETE FROM documents WHERE module = @p0 AND kind = @p1 AND doc_key = @p2", module, kind, key);

        public void Put(TargetRecord t) => Exec(
            "INSERT INTO targets (iqn, luns, initiators, chap, mutual_chap, portal, created, attributes) VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7) " +
            "ON CONFLICT (iqn) DO UPDATE SET luns = excluded.luns, initiators = excluded.initiators, chap = excluded.chap, " +
            "mutual_chap = excluded.mutual_chap, portal = excluded.portal, created = excluded.created, attributes = excluded.attributes",
            t.Iqn, Sql.Ser(t.Luns), Sql.Ser(t.Initiators), Sql.Ser(t.Chap), Sql.Ser(t.MutualChap), t.Portal, Sql.Time(t.Created), Sql.Node(t.Attributes));

        public void DeleteTarget(string iqn) => Exec("DELETE FROM targets WHERE iqn = @p0", iqn);

        public void Put(JobRecord j)
        {
            var id = Sql.Id(j.Id);
            var finished = j.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
            if (_rowHolds.TryGetValue(id, out var holds) && ReferenceEquals(holds.Request, j.Request) && ReferenceEquals(holds.Keys, j.ConflictKeys)
                && !_callerHolds.Any(h => h.Id == id) && !_txHolds.Any(h => h.Id == id))
            {
                var updated = Exec(
                    "UPDATE jobs SET type = @p1, state = @p2, phase = @p3, progress = @p4, created = @p5, started = @p6, finished = @p7, " +
                    "error = @p8, data = @p9, steps = @p10, attempts = @p11, cancel_requested = @p12 WHERE id = @p0",
                    id, j.Type, j.State.ToString(), j.Phase, j.Progress, Sql.Time(j.Created), Sql.Time(j.Started), Sql.Time(j.Finished),
                    j.Error, Sql.Node(j.Data), Sql.Ser(j.Steps ?? []), j.Attempts, j.CancelRequested ? 1 : 0);
                if (updated == 1)
                {
                    if (finished) _callerHolds.Add((id, null));
                    return;
                }
            }
            Exec(
                "INSERT INTO jobs (id, type, state, phase, progress, created, started, finished, error, request, data, steps, attempts, cancel_requested, conflict_keys) " +
                "VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8, @p9, @p10, @p11, @p12, @p13, @p14) " +
                "ON CONFLICT (id) DO UPDATE SET type = excluded.type, state = excluded.state, phase = excluded.phase, progress = excluded.progress, " +
                "created = excluded.created, started = excluded.started, finished = excluded.finished, error = excluded.error, request = excluded.request, " +
                "data = excluded.data, steps = excluded.steps, attempts = excluded.attempts, cancel_requested = excluded.cancel_requested, " +
                "conflict_keys = excluded.conflict_keys",
                id, j.Type, j.State.ToString(), j.Phase, j.Progress, Sql.Time(j.Created), Sql.Time(j.Started), Sql.Time(j.Finished),
                j.Error, Sql.Node(j.Request), Sql.Node(j.Data), Sql.Ser(j.Steps ?? []), j.Attempts, j.CancelRequested ? 1 : 0, Sql.Ser(j.ConflictKeys));
            _callerHolds.Add((id, finished ? null : (j.Request, j.ConflictKeys)));
        }

        public void DeleteJob(Guid id)
        {
            var key = Sql.Id(id);
            _callerHolds.Add((key, null));
            Exec("DELETE FROM job_items WHERE job_id = @p0", key);
            Exec("DELETE FROM job_logs WHERE job_id = @p0", key);
            Exec("DELETE FROM jobs WHERE id = @p0", key);
        }

        public void Put(JobItem i)
        {
            if (_tx is null) throw new InvalidOperationException("a state writer is usable only inside WriteAsync's action");
            _items.Put(i);
        }

        // The per-job sequence is computed inside the transaction; one committer means no two writers race for it.
        public void AppendLog(Guid jobId, string level, string message) => Exec(
            "INSERT INTO job_logs (job_id, seq, time, level, message) " +
            "SELECT @p0, COALESCE(MAX(seq), 0) + 1, @p1, @p2, @p3 FROM job_logs WHERE job_id = @p0",
            Sql.Id(jobId), Sql.Time(DateTimeOffset.UtcNow), level, message);

        public void Dispose()
        {
            // Only set inside a write; a writer closed mid-write leaves it to roll back with the connection.
            _tx?.Dispose();
            _tx = null;
            foreach (var c in _commands.Values) c.Dispose();
            _commands.Clear();
            _items.Dispose();
            try
            {
                using var cmd = conn.CreateCommand();
                cmd.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
                cmd.ExecuteNonQuery();
            }
            catch (SqliteException)
            {
                // A busy reader elsewhere only delays the checkpoint; the WAL stays valid.
            }
            conn.Dispose();
        }
    }
}
