using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Cairn.Core;
using Cairn.Core.Jobs;
using Cairn.Core.State;
using Cairn.Core.Workflows.Lun;

namespace Cairn.Api.Lun;

/// <summary>
/// Renders <c>clone_status</c> answers and keeps the last answer per job. Reads are served from that copy: the LUN job
/// handlers report every change they record (<see cref="Changed(JobContext)"/>), and a changed job is re-rendered once
/// in the background while readers keep getting the previous answer (at most one render behind), so a poll costs a
/// dictionary lookup however many items the job has. A running job is rendered from its live <see cref="JobContext"/>
/// (the record and the failed items it already holds in memory), never from the store: re-reading the job would parse
/// its whole request (megabytes for a 10,000-item job) and every item on each change, and that garbage made the GC
/// pauses that were the tail of the status latency. A job submitted here starts with an answer rendered from the record
/// in hand (<see cref="Submitted"/>); jobs known only to the store (from before a restart) are rendered from it once. Finished jobs are rendered once when they finish (<see cref="Finished"/>) and never change
/// again. The cached answer is the summary (the original's fields plus failed items); the full per-item list
/// (<c>?items=1</c>) is rendered from the store on each such read.
/// </summary>
public sealed class LunStatus(IStateStore store) : ILunJobObserver
{
    private const int MaxCached = 4096;
    private readonly ConcurrentDictionary<Guid, Entry> _cache = new();
    private readonly ConcurrentDictionary<Guid, Lazy<byte[]?>> _loading = new();
    private readonly ConcurrentDictionary<Guid, JobContext> _live = new();

    /// <summary>Failed items listed in the summary answer.</summary>
    public const int MaxFailedShown = 100;

    private sealed class Entry(byte[] body, bool final)
    {
        public volatile byte[] Body = body;
        public volatile bool Final = final;
        public volatile bool Dirty;
        public int Refreshing;
    }

    /// <summary>The status body (UTF-8 JSON), or null for an unknown id (or a job that is not a LUN job).</summary>
    public byte[]? Render(string jobId, bool items = false)
    {
        if (!Guid.TryParse(jobId, out var id)) return null;
        if (items)
        {
            var job = store.GetJob(id);
            return job is null || job.Type is not (LunJobs.CreateType or LunJobs.DeleteType) ? null : Bytes(Render(job, store.ListJobItems(id), full: true));
        }
        if (_cache.TryGetValue(id, out var e))
        {
            if (e.Dirty && !e.Final) Refresh(id, e);
            return e.Body;
        }
        // One render per job at a time: concurrent first reads of a big job wait for it instead of piling up.
        var load = _loading.GetOrAdd(id, k => new Lazy<byte[]?>(() => Load(k)));
        try
        {
            return load.Value;
        }
        finally
        {
            _loading.TryRemove(KeyValuePair.Create(id, load));
        }
    }

    /// <summary>A LUN job was just submitted: its first answer is rendered from the record in hand, not read back.</summary>
    public void Submitted(JobRecord job, int count)
    {
        // Only if nothing is there yet: the job may already have started (its context is live) or even finished.
        if (_cache.TryAdd(job.Id, new Entry(Bytes(Render(job, count, [])), final: false)) && _live.ContainsKey(job.Id))
            Changed(job.Id);
        if (_cache.Count > MaxCached) Trim();
    }

    /// <summary>A running LUN job recorded a change: the next reads trigger one re-render, from <paramref name="ctx"/>.</summary>
    public void Changed(JobContext ctx)
    {
        var id = ctx.Job.Id;
        _live[id] = ctx;
        Changed(id);
    }

    /// <summary>A LUN job changed: the next reads trigger one re-render.</summary>
    public void Changed(Guid id)
    {
        if (_cache.TryGetValue(id, out var e)) e.Dirty = true;
    }

    /// <summary>A job finished (any type): its final answer is rendered now and kept.</summary>
    public void Finished(JobRecord job)
    {
        if (job.Type is not (LunJobs.CreateType or LunJobs.DeleteType)) return;
        var body = _live.TryRemove(job.Id, out var ctx)
            ? Bytes(Render(job, ctx.ItemCount, ctx.FailedItems()))
            : Bytes(Render(job, store.ListJobItems(job.Id)));
        Put(job.Id, new Entry(body, final: true));
    }

    private static byte[] Bytes(JsonObject o) => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(o);

    private byte[]? Load(Guid id)
    {
        if (_live.TryGetValue(id, out var ctx))
        {
            var live = _cache.GetOrAdd(id, _ => new Entry(RenderLive(ctx), final: false));
            return live.Body;
        }
        var job = store.GetJob(id);
        if (job is null || job.Type is not (LunJobs.CreateType or LunJobs.DeleteType)) return null;
        var body = Bytes(Render(job, store.ListJobItems(id)));
        var final = job.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
        // A newer answer may have been stored meanwhile (by Finished): keep it.
        var e = _cache.GetOrAdd(id, _ => new Entry(body, final));
        if (_cache.Count > MaxCached) Trim();
        return e.Body;
    }

    private void Refresh(Guid id, Entry e)
    {
        if (Interlocked.Exchange(ref e.Refreshing, 1) == 1) return;
        ThreadPool.QueueUserWorkItem(__ =>
        {
            try
            {
                e.Dirty = false; // changes recorded from here on mark it again
                byte[] body;
                if (_live.TryGetValue(id, out var ctx)) body = RenderLive(ctx);
                else
                {
                    var job = store.GetJob(id);
                    if (job is null) { _cache.TryRemove(id, out _); return; }
                    body = Bytes(Render(job, store.ListJobItems(id)));
                }
                if (!e.Final) e.Body = body;
            }
            catch (Exception)
            {
                e.Dirty = true; // the store was busy or closing: try again on the next read (never crash the process)
            }
            finally
            {
                Volatile.Write(ref e.Refreshing, 0);
            }
        });
    }

    private static byte[] RenderLive(JobContext ctx) => Bytes(Render(ctx.Job, ctx.ItemCount, ctx.FailedItems()));

    private void Put(Guid id, Entry e)
    {
        _cache[id] = e;
        if (_cache.Count > MaxCached) Trim();
    }

    private void Trim()
    {
        // Finished jobs first; running ones are simply re-read on their next poll.
        foreach (var (k, v) in _cache)
        {
            if (_cache.Count <= MaxCached / 2) break;
            if (v.Final) _cache.TryRemove(k, out _);
        }
    }

    /// <summary>The status value the original's clients poll for.</summary>
    public static string StatusOf(JobRecord job) => job.State switch
    {
        JobState.Succeeded => "complete",
        JobState.Failed or JobState.Cancelled => "failed",
        JobState.Running => job.Phase ?? "start_job",
        _ => job.Phase ?? "pending", // Pending, or back to Pending after a shutdown mid-way (resumes at the next start)
    };

    public static JsonObject Render(JobRecord job, IReadOnlyList<JobItem> items, bool full = false)
    {
        var o = Render(job, items.Count, items.Where(i => i.State == ItemState.Failed));
        if (full) o["items"] = new JsonArray([.. items.Select(i => (JsonNode)Item(job, i))]);
        return o;
    }

    /// <summary>The summary answer from the job record, its item count and its failed items.</summary>
    public static JsonObject Render(JobRecord job, int count, IEnumerable<JobItem> failedItems)
    {
        var d = job.Data ?? [];
        var create = job.Type == LunJobs.CreateType;
        var now = DateTimeOffset.UtcNow;
        double Num(string f) => d[f] switch
        {
            // Numbers read back from the store convert to double; the live record holds what the handler set (int or double).
            JsonValue v when v.TryGetValue<double>(out var x) => x,
            JsonValue v when v.TryGetValue<long>(out var l) => l,
            JsonValue v when v.TryGetValue<int>(out var i) => i,
            _ => 0,
        };
        var o = new JsonObject
        {
            ["status"] = StatusOf(job),
            ["job_id"] = job.Id.ToString(),
            ["job_type"] = create ? "create" : "delete",
            ["num_requested"] = count,
            ["num_clones"] = (int)Num("num_clones"),
            ["num_targets"] = (int)Num("num_targets"),
            ["num_completed"] = (int)Num("num_completed"),
            ["percent_completed"] = job.State == JobState.Succeeded ? 1.0 : Num("percent_completed"),
            ["lag_time"] = job.Started is { } s ? Math.Max(0, (s - job.Created).TotalSeconds) : 0.0,
            ["clone_time"] = Num("clone_time"),
            ["udevd_time"] = Num("udevd_time"),
            ["target_time"] = Num("target_time"),
            ["job_time"] = job.Started is { } s2 ? Math.Max(0, ((job.Finished ?? now) - s2).TotalSeconds) : 0.0,
        };
        if (job.State is JobState.Failed or JobState.Cancelled) o["error"] = job.Error ?? "failed";
        var failed = failedItems.ToList();
        o["num_failed"] = failed.Count;
        o["failed_items"] = new JsonArray([.. failed.Take(MaxFailedShown).Select(i => (JsonNode)Item(job, i))]);
        return o;
    }

    private static JsonObject Item(JobRecord job, JobItem i)
    {
        var item = new JsonObject
        {
            ["dst"] = i.Key,
            ["wwn"] = (string?)i.Data?["wwn"] ?? (job.Request?["clones"] is JsonArray asked && i.Index < asked.Count ? (string?)asked[i.Index]?["wwn"] : null),
            ["status"] = i.State.ToString().ToLowerInvariant(),
        };
        if (i.Error is not null) item["error"] = i.Error;
        if (i.Data?["clone_time"] is { } ct) item["clone_time"] = ct.DeepClone();
        if (i.Data?["target_time"] is { } tt) item["target_time"] = tt.DeepClone();
        if (i.Data?["note"] is { } note) item["note"] = note.DeepClone();
        return item;
    }
}
