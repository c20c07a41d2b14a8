using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Cairn.Core;
using Cairn.Core.Jobs;
using Cairn.Core.State;

namespace Cairn.Api.Lun;

/// <summary>
/// Renders <c>clone_status</c> answers from the job record and its items (two indexed store reads, no scan) and keeps
/// the last answer per job. Reads are served from that copy: the LUN job handlers report every change they record
/// (<see cref="Changed"/>), and a changed job is re-rendered once in the background while readers keep getting the
/// previous answer (at most one render behind), so a poll costs a dictionary lookup however many items the job has.
/// Finished jobs are rendered once, synchronously, when they finish (<see cref="Finished"/>), and never change again.
/// The cached answer is the summary (the original's fields plus failed items); the full per-item list
/// (<c>?items=1</c>) is rendered from the store on each such read.
/// </summary>
public sealed class LunStatus(IStateStore store)
{
    private const int MaxCached = 4096;
    private readonly ConcurrentDictionary<Guid, Entry> _cache = new();
    private readonly ConcurrentDictionary<Guid, Lazy<byte[]?>> _loading = new();

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

    /// <summary>A LUN job recorded a change: the next reads trigger one re-render.</summary>
    public void Changed(Guid id)
    {
        if (_cache.TryGetValue(id, out var e)) e.Dirty = true;
    }

    /// <summary>A job finished (any type): its final answer is rendered now and kept.</summary>
    public void Finished(JobRecord job)
    {
        if (job.Type is not (LunJobs.CreateType or LunJobs.DeleteType)) return;
        Put(job.Id, new Entry(Bytes(Render(job, store.ListJobItems(job.Id))), final: true));
    }

    private static byte[] Bytes(JsonObject o) => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(o);

    private byte[]? Load(Guid id)
    {
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
                var job = store.GetJob(id);
                if (job is null) { _cache.TryRemove(id, out _); return; }
                var body = Bytes(Render(job, store.ListJobItems(id)));
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
        var d = job.Data ?? [];
        var create = job.Type == LunJobs.CreateType;
        var now = DateTimeOffset.UtcNow;
        double Num(string f) => (double?)d[f] ?? 0;
        var o = new JsonObject
        {
            ["status"] = StatusOf(job),
            ["job_id"] = job.Id.ToString(),
            ["job_type"] = create ? "create" : "delete",
            ["num_requested"] = items.Count,
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
        var asked = job.Request?["clones"] as JsonArray;
        JsonObject Item(JobItem i)
        {
            var item = new JsonObject
            {
                ["dst"] = i.Key,
                ["wwn"] = (string?)i.Data?["wwn"] ?? (asked is not null && i.Index < asked.Count ? (string?)asked[i.Index]?["wwn"] : null),
                ["status"] = i.State.ToString().ToLowerInvariant(),
            };
            if (i.Error is not null) item["error"] = i.Error;
            if (i.Data?["clone_time"] is { } ct) item["clone_time"] = ct.DeepClone();
            if (i.Data?["target_time"] is { } tt) item["target_time"] = tt.DeepClone();
            if (i.Data?["note"] is { } note) item["note"] = note.DeepClone();
            return item;
        }
        var failed = items.Where(i => i.State == ItemState.Failed).ToList();
        o["num_failed"] = failed.Count;
        o["failed_items"] = new JsonArray([.. failed.Take(MaxFailedShown).Select(i => (JsonNode)Item(i))]);
        if (full) o["items"] = new JsonArray([.. items.Select(i => (JsonNode)Item(i))]);
        return o;
    }
}
