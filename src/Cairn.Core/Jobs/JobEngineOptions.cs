namespace Cairn.Core.Jobs;

/// <summary>Settings of a <see cref="JobEngine"/>.</summary>
public sealed class JobEngineOptions
{
    /// <summary>Jobs that run at the same time; later ones wait in submission order.</summary>
    public int MaxConcurrentJobs { get; set; } = 4;

    /// <summary>Times a job may be started; a job interrupted by a crash after this many attempts is failed, not resumed.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Finished jobs older than this (by finish time) are deleted by the retention sweep.</summary>
    public TimeSpan RetainFor { get; set; } = TimeSpan.FromDays(7);

    /// <summary>At most this many finished jobs are kept; older ones beyond it are deleted by the retention sweep.</summary>
    public int RetainMaxCount { get; set; } = 1000;

    /// <summary>How often the retention sweep runs (also once at start).</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Throws when a setting is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentJobs, 1, nameof(MaxConcurrentJobs));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAttempts, 1, nameof(MaxAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetainFor, TimeSpan.Zero, nameof(RetainFor));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetainMaxCount, 0, nameof(RetainMaxCount));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(SweepInterval, TimeSpan.Zero, nameof(SweepInterval));
    }
}
