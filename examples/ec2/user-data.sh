#!/bin/bash
# Joins the instance to the ECS cluster "hello" (the ECS-optimized AMI runs the ECS agent, which reads this file).
echo ECS_CLUSTER=hello >> /etc/ecs/ecs.config
