using System.Text.Json.Nodes;
using Cairn.Core.State;

namespace Cairn.Core.Jobs;

/// <summary>
/// Helpers for job items whose handler records how far each got: the stage lives in <c>Data["stage"]</c>, persisted with
/// the item, so a resumed job knows which step an item was in when the process stopped.
/// </summary>
public static class JobItems
{
    /// <summary>The stage an item recorded (null: none, i.e. not started or between steps).</summary>
    public static string? Stage(JobItem i)
    {
        ArgumentNullException.ThrowIfNull(i);
        return (string?)i.Data?["stage"];
    }

    /// <summary>Whether the item has its result (done, failed or skipped) and is never run again.</summary>
    public static bool Finished(JobItem i)
    {
        ArgumentNullException.ThrowIfNull(i);
        return i.State is ItemState.Done or ItemState.Failed or ItemState.Skipped;
    }

    /// <summary>A copy of the item's data to change (the recorded item keeps its own).</summary>
    public static JsonObject Data(JobItem i)
    {
        ArgumentNullException.ThrowIfNull(i);
        return (JsonObject?)i.Data?.DeepClone() ?? [];
    }

    /// <summary>An item with a new state and data; Started kept from the first attempt, Finished set once it ends.</summary>
    public static JobItem With(JobItem i, ItemState state, JsonObject data, string? error = null)
    {
        ArgumentNullException.ThrowIfNull(i);
        var now = DateTimeOffset.UtcNow;
        var finished = state is ItemState.Done or ItemState.Failed ? now : (DateTimeOffset?)null;
        return i with { State = state, Data = data, Error = error ?? (state == ItemState.Failed ? i.Error : null), Started = i.Started ?? now, Finished = finished };
    }
}
