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
/// </summary>
public sealed class LunStatus(IStateStore store)
{
    private const int MaxCached = 4096;
    private readonly ConcurrentDictionary<Guid, Entry> _cache = new();

    private sealed class Entry(string body, bool final)
    {
        public volatile string Body = body;
        public volatile bool Final = final;
        public volatile bool Dirty;
        public int Refreshing;
    }

    /// <summary>The status body, or null for an unknown id (or a job that is not a LUN job).</summary>
    public string? Render(string jobId)
    {
        if (!Guid.TryParse(jobId, out var id)) return null;
        if (_cache.TryGetValue(id, out var e))
        {
            if (e.Dirty && !e.Final) Refresh(id, e);
            return e.Body;
        }
        return Load(id);
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
        Put(job.Id, new Entry(Render(job, store.ListJobItems(job.Id)).ToJsonString(), final: true));
    }

    private string? Load(Guid id)
    {
        var job = store.GetJob(id);
        if (job is null || job.Type is not (LunJobs.CreateType or LunJobs.DeleteType)) return null;
        var body = Render(job, store.ListJobItems(id)).ToJsonString();
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
                var body = Render(job, store.ListJobItems(id)).ToJsonString();
                if (!e.Final) e.Body = body;
            }
            catch (Exception) when (!e.Final)
            {
                e.Dirty = true; // the store was busy or closing: try again on the next read
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

    public static JsonObject Render(JobRecord job, IReadOnlyList<JobItem> items)
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
        var list = new JsonArray();
        var asked = job.Request?["clones"] as JsonArray;
        foreach (var i in items)
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
            list.Add(item);
        }
        o["items"] = list;
        return o;
    }
}
