using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Cairn.Core;
using Cairn.Core.Jobs;
using Cairn.Core.State;

namespace Cairn.Api.Lun;

/// <summary>
/// Renders <c>clone_status</c> answers from the job record and its items (two indexed store reads, no scan), and
/// keeps the rendered answers of finished jobs, which never change, so polling a finished job costs a lookup.
/// </summary>
public sealed class LunStatus(JobEngine jobs)
{
    private const int MaxCached = 4096;
    private readonly ConcurrentDictionary<Guid, string> _finished = new();

    /// <summary>The status body, or null for an unknown id (or a job that is not a LUN job).</summary>
    public string? Render(string jobId)
    {
        if (!Guid.TryParse(jobId, out var id)) return null;
        if (_finished.TryGetValue(id, out var cached)) return cached;
        var job = jobs.Get(id);
        if (job is null || job.Type is not (LunJobs.CreateType or LunJobs.DeleteType)) return null;
        var body = Render(job, jobs.Items(id)).ToJsonString();
        if (job.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled)
        {
            if (_finished.Count >= MaxCached) _finished.Clear();
            _finished[id] = body;
        }
        return body;
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
